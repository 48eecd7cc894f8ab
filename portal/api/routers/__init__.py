"""One Router per resource; portal/api/urls.py mounts them (see ROUTERS there)."""
