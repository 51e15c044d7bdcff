"""Dexie imports: the dexie-export-import file format, the ViralDashboard tables it carries, and the report."""
