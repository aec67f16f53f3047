"""A small English-German parallel corpus written for the tests (hand-translated, short everyday sentences), and
writers for the raw layouts the parallel builders read."""

from __future__ import annotations

import gzip
from pathlib import Path

EN_DE = [
    ("The cat sleeps on the sofa.", "Die Katze schläft auf dem Sofa."),
    ("I drink coffee every morning.", "Ich trinke jeden Morgen Kaffee."),
    ("The train to Berlin is late.", "Der Zug nach Berlin hat Verspätung."),
    ("My brother plays the guitar.", "Mein Bruder spielt Gitarre."),
    ("It is raining in Hamburg today.", "Heute regnet es in Hamburg."),
    ("We are going to the cinema tonight.", "Wir gehen heute Abend ins Kino."),
    ("The children are playing football in the park.", "Die Kinder spielen Fußball im Park."),
    ("She reads a book about history.", "Sie liest ein Buch über Geschichte."),
    ("The shop opens at nine o'clock.", "Der Laden öffnet um neun Uhr."),
    ("Where is the train station?", "Wo ist der Bahnhof?"),
    ("I would like a glass of water.", "Ich hätte gern ein Glas Wasser."),
    ("The dog barks at the postman.", "Der Hund bellt den Briefträger an."),
    ("Our teacher is very friendly.", "Unsere Lehrerin ist sehr freundlich."),
    ("The soup is too hot.", "Die Suppe ist zu heiß."),
    ("He works in a hospital.", "Er arbeitet in einem Krankenhaus."),
    ("The museum is closed on Monday.", "Das Museum ist am Montag geschlossen."),
    ("My grandmother bakes an apple cake.", "Meine Großmutter backt einen Apfelkuchen."),
    ("The flowers in the garden are red.", "Die Blumen im Garten sind rot."),
    ("Can you help me, please?", "Kannst du mir bitte helfen?"),
    ("The computer does not work.", "Der Computer funktioniert nicht."),
    ("We eat fish on Friday.", "Am Freitag essen wir Fisch."),
    ("The mountains are covered with snow.", "Die Berge sind mit Schnee bedeckt."),
    ("My phone is on the table.", "Mein Handy liegt auf dem Tisch."),
    ("The bus stops in front of the school.", "Der Bus hält vor der Schule."),
    ("I have a headache.", "Ich habe Kopfschmerzen."),
    ("The river flows through the city.", "Der Fluss fließt durch die Stadt."),
    ("She speaks three languages.", "Sie spricht drei Sprachen."),
    ("The window is open.", "Das Fenster ist offen."),
    ("We need milk and bread.", "Wir brauchen Milch und Brot."),
    ("The concert starts at eight.", "Das Konzert beginnt um acht."),
    ("My sister lives in Vienna.", "Meine Schwester wohnt in Wien."),
    ("The car is in the garage.", "Das Auto steht in der Garage."),
    ("He forgot his umbrella.", "Er hat seinen Regenschirm vergessen."),
    ("The baby is sleeping.", "Das Baby schläft."),
    ("I am learning to swim.", "Ich lerne schwimmen."),
    ("The library has many old books.", "Die Bibliothek hat viele alte Bücher."),
    ("The weather is beautiful today.", "Das Wetter ist heute schön."),
    ("They are building a new bridge.", "Sie bauen eine neue Brücke."),
    ("The doctor gives him medicine.", "Der Arzt gibt ihm Medizin."),
    ("The birds sing in the morning.", "Die Vögel singen am Morgen."),
    ("I lost my keys.", "Ich habe meine Schlüssel verloren."),
    ("The hotel is near the beach.", "Das Hotel liegt in der Nähe des Strandes."),
    ("Our neighbours have a big dog.", "Unsere Nachbarn haben einen großen Hund."),
    ("The tea is cold.", "Der Tee ist kalt."),
    ("He drives to work by car.", "Er fährt mit dem Auto zur Arbeit."),
    ("The students write an exam.", "Die Studenten schreiben eine Prüfung."),
    ("The moon is bright tonight.", "Der Mond ist heute Nacht hell."),
    ("She paints a picture of the sea.", "Sie malt ein Bild vom Meer."),
    ("The restaurant serves pizza and pasta.", "Das Restaurant serviert Pizza und Nudeln."),
    ("I am tired after the long journey.", "Nach der langen Reise bin ich müde."),
    ("The door is locked.", "Die Tür ist abgeschlossen."),
    ("My father reads the newspaper.", "Mein Vater liest die Zeitung."),
    ("The price of bananas has risen.", "Der Preis für Bananen ist gestiegen."),
    ("The plane lands in Munich.", "Das Flugzeug landet in München."),
    ("We celebrate her birthday on Sunday.", "Wir feiern ihren Geburtstag am Sonntag."),
    ("The horse runs across the field.", "Das Pferd läuft über das Feld."),
    ("The letter arrived yesterday.", "Der Brief ist gestern angekommen."),
    ("The kitchen is very small.", "Die Küche ist sehr klein."),
    ("He is looking for a new job.", "Er sucht eine neue Arbeit."),
    ("The lamp is broken.", "Die Lampe ist kaputt."),
    ("The cheese comes from Switzerland.", "Der Käse kommt aus der Schweiz."),
    ("I often walk in the forest.", "Ich gehe oft im Wald spazieren."),
    ("The wine is from France.", "Der Wein kommt aus Frankreich."),
    ("The clock on the wall is slow.", "Die Uhr an der Wand geht nach."),
]


def write_tsv(path: Path, pairs=EN_DE, *, header: bool = False, compress: bool = False) -> Path:
    """source<TAB>target per line (optionally with an `en<TAB>de` header line, optionally gzip)."""
    text = ("en\tde\n" if header else "") + "".join(f"{en}\t{de}\n" for en, de in pairs)
    if compress:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_moses(folder: Path, pairs=EN_DE, *, name: str = "corpus.de-en") -> tuple[Path, Path]:
    """OPUS Moses layout: <name>.en and <name>.de, one sentence per line, aligned by line."""
    folder.mkdir(parents=True, exist_ok=True)
    english = folder / f"{name}.en"
    german = folder / f"{name}.de"
    english.write_text("".join(en + "\n" for en, _ in pairs), encoding="utf-8")
    german.write_text("".join(de + "\n" for _, de in pairs), encoding="utf-8")
    return english, german
