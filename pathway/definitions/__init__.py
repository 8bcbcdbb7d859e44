"""The shipped pathway definitions (YAML), loaded by name with ``pathway.load_pathway``."""
