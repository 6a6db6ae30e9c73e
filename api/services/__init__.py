"""The use cases, free of any web framework: the HTTP routes, the command line and the map pages
parse their input, call one function here and serialise what it returns.

``stations`` (nearest, listing), ``intake`` (a tip from a phone or a batch, rate limits),
``planning`` (coverage, gaps, sites, heat weights) and ``tipsource`` (which store the tips come
from) take a loaded :class:`geo.city.City`, a store and the settings.
"""
