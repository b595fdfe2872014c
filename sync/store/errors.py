"""The error a sync request is refused with as a whole."""


class SyncError(Exception):
    """A request the sync service refuses as a whole; rendered as problem+json."""

    def __init__(self, status: int, slug: str, title: str, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail, self.extra = (
            status,
            slug,
            title,
            detail,
            extra,
        )
