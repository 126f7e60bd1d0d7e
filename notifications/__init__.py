"""Rendering messages (Jinja2 templates) and delivering them (SMTP, a folder of .eml files, memory)."""
