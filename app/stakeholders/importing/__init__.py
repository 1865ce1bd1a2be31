"""Importing into the map: read a file (size, encoding, CSV preview), plan it (column mapping,
vCard cards, every row validated, duplicates set aside), apply it in one transaction; and the
feedback CSV of the post-incident section. Nothing is re-exported: import from the modules."""
