"""SQLite storage: connections, the schema and its migrations, the audit log, and the queries
more than one part of the bot needs (the published library, the content version, the question log)."""
