"""Voices: the stock voice store."""
