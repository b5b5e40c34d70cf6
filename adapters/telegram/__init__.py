"""Telegram adapter (python-telegram-bot 22): webhook or polling in, paced plain text out."""
