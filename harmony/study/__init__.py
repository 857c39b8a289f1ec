"""The 2AFC collection server (``harmony study serve``): a self-hosted pairwise user study.

Modules
-------
tasks      read a task list (``study pairs`` / ``bench`` ``pairs.csv``) and resolve its image files
scheduler  pure pair scheduling: balanced coverage (Lai et al. 2016) and ASAP-style expected information
           gain (Mikhailiuk et al., ICPR 2020) under a Gaussian (TrueSkill-like) Thurstone posterior
storage    SQLite (WAL) store: study identity, raters, assignments (task tokens), votes, rejected requests
app        the Starlette application (consent, rating and done pages, JSON API, images, ``/admin``)
export     votes from the store in the canonical vote-log format that ``bt-score`` reads
pages/     plain HTML + JavaScript + CSS served by the package (no CDN, no build step)
"""
