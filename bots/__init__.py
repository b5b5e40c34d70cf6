"""Bot definitions: each folder is one bot (``bots/<name>/bot.yaml`` + ``brain.py``).

``bots.loader`` builds the brains named in the settings, with the process's one OCR reader
(built by ``main.py`` and shared with the engine), so a photo is read once.
"""
