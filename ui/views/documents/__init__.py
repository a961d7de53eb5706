"""The Documents page: collections of the user's files, indexed and searched locally."""
