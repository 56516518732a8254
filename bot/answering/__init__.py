"""From a resident's message to an answer: normalisation, the retrieval engine, urgency, and the
reply composed within the byte budget. Plain values in and out: no web framework, no database."""
