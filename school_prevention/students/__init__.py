"""Students: the scoped list and the one page per child."""
