"""A small embedded vocabulary, so that the generator runs offline on a fresh machine.

Written by hand for this project (common category, label and country ids of the Open Food Facts
taxonomies); the real taxonomies and keyword lists replace it whenever they are available.
"""

from __future__ import annotations

# node -> (parents, {lang: name})
_CATEGORIES: dict[str, tuple[list[str], dict[str, str]]] = {
    "en:plant-based-foods-and-beverages": (
        [],
        {"en": "Plant-based foods and beverages", "fr": "Aliments d'origine végétale"},
    ),
    "en:beverages": ([], {"en": "Beverages", "fr": "Boissons", "de": "Getränke", "es": "Bebidas"}),
    "en:dairies": ([], {"en": "Dairies", "fr": "Produits laitiers", "de": "Milchprodukte", "es": "Lácteos"}),
    "en:snacks": ([], {"en": "Snacks", "fr": "Snacks", "de": "Snacks", "es": "Snacks"}),
    "en:meals": (
        [],
        {"en": "Meals", "fr": "Plats préparés", "de": "Fertiggerichte", "es": "Platos preparados"},
    ),
    "en:sweet-snacks": (["en:snacks"], {"en": "Sweet snacks", "fr": "Snacks sucrés", "de": "Süße Snacks"}),
    "en:salty-snacks": (["en:snacks"], {"en": "Salty snacks", "fr": "Snacks salés", "de": "Salzige Snacks"}),
    "en:biscuits": (
        ["en:sweet-snacks"],
        {"en": "Biscuits", "fr": "Biscuits", "de": "Kekse", "es": "Galletas"},
    ),
    "en:chocolates": (
        ["en:sweet-snacks"],
        {"en": "Chocolates", "fr": "Chocolats", "de": "Schokoladen", "es": "Chocolates"},
    ),
    "en:dark-chocolates": (
        ["en:chocolates"],
        {"en": "Dark chocolates", "fr": "Chocolats noirs", "de": "Zartbitterschokoladen"},
    ),
    "en:milk-chocolates": (
        ["en:chocolates"],
        {"en": "Milk chocolates", "fr": "Chocolats au lait", "de": "Milchschokoladen"},
    ),
    "en:crisps": (
        ["en:salty-snacks"],
        {"en": "Crisps", "fr": "Chips", "de": "Kartoffelchips", "es": "Patatas fritas"},
    ),
    "en:cheeses": (["en:dairies"], {"en": "Cheeses", "fr": "Fromages", "de": "Käse", "es": "Quesos"}),
    "en:yogurts": (["en:dairies"], {"en": "Yogurts", "fr": "Yaourts", "de": "Joghurts", "es": "Yogures"}),
    "en:milks": (["en:dairies"], {"en": "Milks", "fr": "Laits", "de": "Milch", "es": "Leches"}),
    "en:waters": (["en:beverages"], {"en": "Waters", "fr": "Eaux", "de": "Wasser", "es": "Aguas"}),
    "en:juices": (
        ["en:beverages", "en:plant-based-foods-and-beverages"],
        {"en": "Juices", "fr": "Jus", "de": "Säfte", "es": "Zumos"},
    ),
    "en:orange-juices": (
        ["en:juices"],
        {"en": "Orange juices", "fr": "Jus d'orange", "de": "Orangensäfte", "es": "Zumos de naranja"},
    ),
    "en:coffees": (
        ["en:beverages", "en:plant-based-foods-and-beverages"],
        {"en": "Coffees", "fr": "Cafés", "de": "Kaffee", "es": "Cafés"},
    ),
    "en:teas": (
        ["en:beverages", "en:plant-based-foods-and-beverages"],
        {"en": "Teas", "fr": "Thés", "de": "Tees", "es": "Tés"},
    ),
    "en:pastas": (
        ["en:plant-based-foods-and-beverages"],
        {"en": "Pastas", "fr": "Pâtes alimentaires", "de": "Nudeln", "es": "Pastas"},
    ),
    "en:breakfast-cereals": (
        ["en:plant-based-foods-and-beverages"],
        {"en": "Breakfast cereals", "fr": "Céréales pour petit-déjeuner", "de": "Frühstückscerealien"},
    ),
    "en:breads": (
        ["en:plant-based-foods-and-beverages"],
        {"en": "Breads", "fr": "Pains", "de": "Brote", "es": "Panes"},
    ),
    "en:pizzas": (["en:meals"], {"en": "Pizzas", "fr": "Pizzas", "de": "Pizzen", "es": "Pizzas"}),
    "en:soups": (["en:meals"], {"en": "Soups", "fr": "Soupes", "de": "Suppen", "es": "Sopas"}),
    "en:jams": (
        ["en:plant-based-foods-and-beverages"],
        {"en": "Jams", "fr": "Confitures", "de": "Konfitüren", "es": "Mermeladas"},
    ),
}

_LABELS: dict[str, tuple[list[str], dict[str, str]]] = {
    "en:organic": ([], {"en": "Organic", "fr": "Bio"}),
    "en:eu-organic": (["en:organic"], {"en": "EU Organic", "fr": "Bio européen"}),
    "fr:ab-agriculture-biologique": (["en:organic"], {"fr": "AB Agriculture Biologique"}),
    "en:fair-trade": ([], {"en": "Fair trade", "fr": "Commerce équitable"}),
    "en:vegan": ([], {"en": "Vegan", "fr": "Végétalien"}),
    "en:vegetarian": ([], {"en": "Vegetarian", "fr": "Végétarien"}),
    "en:gluten-free": ([], {"en": "Gluten-free", "fr": "Sans gluten"}),
    "en:green-dot": ([], {"en": "Green Dot", "fr": "Point Vert"}),
    "en:nutriscore": ([], {"en": "Nutriscore"}),
    "en:made-in-france": ([], {"en": "Made in France", "fr": "Fabriqué en France"}),
}

_COUNTRIES: dict[str, dict[str, str]] = {
    "en:france": {"en": "France", "fr": "France"},
    "en:united-states": {"en": "United States", "fr": "États-Unis"},
    "en:germany": {"en": "Germany", "fr": "Allemagne"},
    "en:spain": {"en": "Spain", "fr": "Espagne"},
    "en:italy": {"en": "Italy", "fr": "Italie"},
    "en:belgium": {"en": "Belgium", "fr": "Belgique"},
    "en:switzerland": {"en": "Switzerland", "fr": "Suisse"},
    "en:united-kingdom": {"en": "United Kingdom", "fr": "Royaume-Uni"},
    "en:canada": {"en": "Canada", "fr": "Canada"},
    "en:netherlands": {"en": "Netherlands", "fr": "Pays-Bas"},
    "en:portugal": {"en": "Portugal", "fr": "Portugal"},
    "en:poland": {"en": "Poland", "fr": "Pologne"},
}

# Country draws follow roughly the shares of the real dump (France and the US dominate).
COUNTRY_WEIGHTS: dict[str, int] = {
    "en:france": 30,
    "en:united-states": 22,
    "en:germany": 8,
    "en:spain": 8,
    "en:italy": 6,
    "en:belgium": 4,
    "en:switzerland": 4,
    "en:united-kingdom": 5,
    "en:canada": 3,
    "en:netherlands": 3,
    "en:portugal": 2,
    "en:poland": 2,
}

_INGREDIENTS: dict[str, dict[str, str]] = {
    f"en:{slug}": {"en": en, "fr": fr}
    for slug, en, fr in [
        ("sugar", "sugar", "sucre"),
        ("salt", "salt", "sel"),
        ("water", "water", "eau"),
        ("wheat-flour", "wheat flour", "farine de blé"),
        ("palm-oil", "palm oil", "huile de palme"),
        ("sunflower-oil", "sunflower oil", "huile de tournesol"),
        ("cocoa-butter", "cocoa butter", "beurre de cacao"),
        ("cocoa-mass", "cocoa mass", "pâte de cacao"),
        ("milk", "milk", "lait"),
        ("egg", "egg", "oeuf"),
        ("butter", "butter", "beurre"),
        ("potato", "potato", "pomme de terre"),
        ("tomato", "tomato", "tomate"),
        ("orange-juice", "orange juice", "jus d'orange"),
        ("coffee", "coffee", "café"),
        ("hazelnut", "hazelnut", "noisette"),
        ("yeast", "yeast", "levure"),
        ("rice", "rice", "riz"),
        ("oat", "oat", "avoine"),
        ("strawberry", "strawberry", "fraise"),
    ]
}

LABEL_PHRASES: list[tuple[str, str]] = [
    ("en:fair-trade", "fair trade"),
    ("en:fair-trade", "commerce équitable"),
    ("en:vegan", "vegan"),
    ("en:green-dot", "point vert"),
    ("en:made-in-france", "fabriqué en france"),
]

BRANDS: list[tuple[str, str]] = [
    ("alpenhof", "Alpenhof"),
    ("biscuiterie-marel", "Biscuiterie Marel"),
    ("casa-verde", "Casa Verde"),
    ("domaine-orlan", "Domaine Orlan"),
    ("fjordvik", "Fjordvik"),
    ("granola-works", "Granola Works"),
    ("maison-ledru", "Maison Ledru"),
    ("nordhavn", "Nordhavn"),
    ("pampero-foods", "Pampero Foods"),
    ("sunvale", "Sunvale"),
]

STORES: list[str] = ["Carrefour", "Auchan", "Lidl", "Aldi", "Tesco", "Walmart", "Mercadona", "Intermarché"]

FISHING_CODES: list[str] = ["ASC-C-00045", "MSC-C-50012", "MSC-C-51734", "ASC-C-00192"]


def taxonomies() -> dict[str, dict[str, tuple[list[str], dict[str, str]]]]:
    """The embedded taxonomies as ``node -> (parents, {lang: name})`` maps (``vocab.Taxonomy.from_nodes``)."""
    return {
        "categories": _CATEGORIES,
        "labels": _LABELS,
        "countries": {k: ([], v) for k, v in _COUNTRIES.items()},
        "ingredients": {k: ([], v) for k, v in _INGREDIENTS.items()},
    }
