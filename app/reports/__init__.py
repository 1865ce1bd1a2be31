"""The post-incident record: its fields (postincident.py), the communication record, the report
model in three versions and its Markdown/HTML rendering; the PDF is drawn by ui/reports/.
Nothing is re-exported: import from the modules."""
