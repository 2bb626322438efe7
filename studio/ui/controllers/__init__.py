"""Tab controllers: each tab's handlers as named methods (see studio.ui.context.TabSpec)."""
