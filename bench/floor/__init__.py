"""The benchmark's floors: the least a DRF request on this stack costs, measured in the same run.

Installed only by bench.settings and routed only by bench.urls: production's settings and URLconf
never load it. Its one table has no migration; the harness creates it with `migrate --run-syncdb`.
"""
