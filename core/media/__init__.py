"""core/media"""
