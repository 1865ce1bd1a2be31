"""The report workspace pieces that need Qt: the incident chart (QPainter) and the PDF export."""
