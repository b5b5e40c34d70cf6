"""core/api"""
