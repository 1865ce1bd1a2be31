"""Domain: ORM models (models.py), vocabularies (enums.py) and frozen DTOs (dto.py)."""
