"""Wording of the synthetic texts: nutrient names, nutrition-table lines, prompts, filler phrases.

Written for this project in the style of real labels; the prompts are the ones Robotoff's regexes know
(``Poids net``, ``Net weight``…), so planted facts are found, while filler phrases carry no keyword.
"""

from __future__ import annotations

NUTRIENTS = [
    ("energy-kj", "kJ"),
    ("energy-kcal", "kcal"),
    ("fat", "g"),
    ("saturated-fat", "g"),
    ("carbohydrates", "g"),
    ("sugars", "g"),
    ("fiber", "g"),
    ("proteins", "g"),
    ("salt", "g"),
    ("sodium", "g"),
]
# Nutrition-table wording per language: (heading, {nutrient: label}).
NUTRITION_WORDS: dict[str, tuple[str, dict[str, str]]] = {
    "fr": (
        "Valeurs nutritionnelles moyennes pour 100 g",
        {
            "energy": "Énergie",
            "fat": "Matières grasses",
            "saturated-fat": "dont acides gras saturés",
            "carbohydrates": "Glucides",
            "sugars": "dont sucres",
            "fiber": "Fibres alimentaires",
            "proteins": "Protéines",
            "salt": "Sel",
        },
    ),
    "en": (
        "Nutrition facts per 100 g",
        {
            "energy": "Energy",
            "fat": "Fat",
            "saturated-fat": "of which saturates",
            "carbohydrates": "Carbohydrate",
            "sugars": "of which sugars",
            "fiber": "Dietary fiber",
            "proteins": "Protein",
            "salt": "Salt",
        },
    ),
    "de": (
        "Nährwerte pro 100 g",
        {
            "energy": "Energie",
            "fat": "Fett",
            "saturated-fat": "davon gesättigte Fettsäuren",
            "carbohydrates": "Kohlenhydrate",
            "sugars": "davon Zucker",
            "fiber": "Ballaststoffe",
            "proteins": "Eiweiß",
            "salt": "Salz",
        },
    ),
    "es": (
        "Información nutricional por 100 g",
        {
            "energy": "Valor energético",
            "fat": "Grasas",
            "saturated-fat": "de las cuales saturadas",
            "carbohydrates": "Hidratos de carbono",
            "sugars": "de los cuales azúcares",
            "fiber": "Fibra alimentaria",
            "proteins": "Proteínas",
            "salt": "Sal",
        },
    ),
}
STORAGE_LINES = {
    "fr": ["À conserver dans un endroit frais et sec.", "Après ouverture, à consommer rapidement."],
    "en": ["Store in a cool, dry place.", "Once opened, consume quickly."],
    "de": ["Kühl und trocken lagern.", "Nach dem Öffnen rasch verbrauchen."],
    "es": ["Conservar en lugar fresco y seco.", "Una vez abierto, consumir pronto."],
}
INGREDIENT_PROMPT = {
    "fr": "Ingrédients",
    "en": "Ingredients",
    "de": "Zutaten",
    "es": "Ingredientes",
    "it": "Ingredienti",
    "nl": "Ingrediënten",
    "pt": "Ingredientes",
    "pl": "Składniki",
}
EXPIRY_PROMPT = {
    "fr": "À consommer de préférence avant le",
    "en": "Best before",
    "de": "Mindestens haltbar bis",
    "es": "Consumir preferentemente antes del",
}
WEIGHT_PROMPT = {"fr": "Poids net", "en": "Net weight", "de": "Nettogewicht", "es": "Peso neto"}
ADJECTIVES = {
    "en": [
        "classic",
        "original",
        "family pack",
        "premium",
        "traditional",
        "mild",
        "crunchy",
        "creamy",
        "extra",
    ],
    "fr": ["classique", "original", "format familial", "premium", "traditionnel", "doux", "croustillant"],
    "de": ["klassisch", "original", "Familienpackung", "traditionell", "mild", "knusprig", "cremig"],
}
