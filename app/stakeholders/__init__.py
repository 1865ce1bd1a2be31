"""Stakeholders: the map per client organisation (people, contact points, validation),
groups, recipient resolution, CSV export; importing/ reads contact files into the map.
Nothing is re-exported: import from the modules."""
