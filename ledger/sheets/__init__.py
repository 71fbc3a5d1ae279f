"""What a village office exchanges on paper and in spreadsheets: reading and writing tables
(.xlsx, CSV in UTF-8 or GB18030), imports with per-row errors, list exports, printed sheets."""
