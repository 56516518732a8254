"""Public web: the try-it page and article pages, and the JSON API for the mini-program."""
