"""Rendering and delivering messages (Jinja2 templates, aiosmtplib). Not built yet: see issue 4."""
