"""A fourth platform, written as a new platform would be: this folder plus one registry line.

``tests/test_fourth_platform.py`` adds the line and runs kefu with it; nothing else in
kefu changes.
"""
