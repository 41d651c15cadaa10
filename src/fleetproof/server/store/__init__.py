"""Storage: the schema (:mod:`.models`), connecting and migrating (:mod:`.db`)."""
