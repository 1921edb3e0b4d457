"""christmas_spiders: price tracking for Hallmark Keepsake ornaments across resellers."""
