"""harmony: an image-harmonization research toolkit.

Build datasets in the iHarmony4 layout, benchmark harmonization methods under the community's metric
protocols, and score pairwise user studies with Bradley-Terry models.
"""

__version__ = "0.1.0"
