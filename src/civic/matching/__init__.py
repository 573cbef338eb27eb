"""Duplicate detection: finds customer records that are one person or business, shows why, and
keeps a review queue (pairs, clusters, decisions) in the ledger database.

``normalise`` folds the ways a name, address, phone or reference is written into one form;
``records`` builds the compared record; ``engine`` (the only module importing Splink) trains a
Fellegi–Sunter model without labels and scores pairs; ``tiers`` turns a score and its evidence
into a suggestion; ``service`` runs it over the ledger and keeps decisions across runs;
``file`` scores a raw CSV export without importing it.
"""
