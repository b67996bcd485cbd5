"""Core types shared by every other part of Reverie."""
