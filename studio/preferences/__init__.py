"""Preference data from the studio: pairs from comparison votes, Pick-a-Pic import/export, a pixel judge."""
