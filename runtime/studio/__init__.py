"""``lpm studio``: the designers' workbench in the browser (character setup, emote preview)."""
