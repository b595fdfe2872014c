"""Customer risk: credit rating, ABC value classes, payment behaviour, collection, lists."""
