"""core/answering"""
