"""Server-rendered pages (Jinja2, one stylesheet, a little JavaScript) over the same services as the API."""
