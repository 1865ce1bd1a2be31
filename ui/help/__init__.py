"""Help: the keyboard shortcuts (read from the window's own menus) and the one-page guide."""
