"""Dataset label tables and taxonomies held as package data."""
