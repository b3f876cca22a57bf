from click_enrichment import app

from kstreamy.testing import TestDriver


def test_clicks_get_the_country_of_their_user():
    driver = TestDriver(app)
    driver.pipe("users", "u1", {"name": "Ada", "country": "UK"})
    driver.pipe("clicks", "u1", {"page": "/home"})
    driver.pipe("clicks", "u2", {"page": "/about"})
    driver.pipe("users", "u1", None)  # user deleted
    driver.pipe("clicks", "u1", {"page": "/bye"})
    assert driver.read("clicks-enriched") == [
        ("u1", {"page": "/home", "country": "UK"}),
        ("u2", {"page": "/about", "country": "unknown"}),
        ("u1", {"page": "/bye", "country": "unknown"}),
    ]
    assert driver.read("clicks-per-country") == [("UK", 1), ("unknown", 1), ("unknown", 2)]
