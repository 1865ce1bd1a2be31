"""The demo database (Harbor IT serving Northwind Health). It sits above the capability
packages, whose services it uses to seed; nothing below it imports it."""
