"""Merging duplicate customer records safely — preview, apply in one transaction, undo.

``plan`` works out what a merge would do and refuses what it must not do; ``apply`` does it and
journals every moved record; ``undo`` puts them back.
"""
