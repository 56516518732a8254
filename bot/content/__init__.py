"""The content bank: the article and tip model with its validator, the fixed replies, articles
rendered as chat text, and the one editing service (every save versioned and audited)."""
