"""Everything that generates: motion space, generators, renderer, character assets (DESIGN §2).

``models`` never imports ``runtime`` or ``bridge``.
"""
