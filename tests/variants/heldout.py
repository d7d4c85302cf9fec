# ruff: noqa: E501  (a table of wordings: one wording list per line reads best)
"""A third set of wordings, written apart from the other two and before any failure was read.

``tests.variants.paraphrases`` is split into a development and an evaluation half; the
evaluation half is never used to write rules, but its figures were watched while rules
changed. These wordings were written once, by another hand, before any rule change was
measured on them, and are only ever measured (``generate OUT --heldout`` writes
``OUT/heldout``): a check that the evaluation figures did not drift towards the evaluation
half. Never copy them into a rule file, and never change a rule after reading one of their
failures.
"""

from __future__ import annotations

LABELS: dict[str, dict[str, tuple[str, ...]]] = {
    "applicant_name": {
        "en": ("Applicant organisation", "Name of the applicant (legal entity)", "Requesting organisation name"),
        "fr": ("Dénomination du demandeur", "Nom de l'entreprise qui introduit la demande", "Demandeur - nom de la société"),
        "nl": ("Naam van de aanvrager (rechtspersoon)", "Aanvragende organisatie", "Firmanaam van de aanvrager"),
    },
    "applicant_role": {
        "en": ("Applicant's role in this request", "Capacity of the applicant", "The applicant is the"),
        "fr": ("Qualité du demandeur", "Le demandeur est", "Rôle de l'organisme qui introduit la demande"),
        "nl": ("Hoedanigheid van de aanvrager", "De aanvrager is", "Rol van de aanvragende organisatie"),
    },
    "contact_name": {
        "en": ("Contact person", "Name of the person we may contact", "Contact for questions (name)"),
        "fr": ("Personne de contact", "Nom de la personne à contacter", "Contact (nom et prénom)"),
        "nl": ("Contactpersoon", "Naam van de contactpersoon", "Aanspreekpersoon (naam)"),
    },
    "contact_email": {
        "en": ("E-mail of the contact person", "Contact email", "E-mail address (contact person)"),
        "fr": ("Courriel de la personne de contact", "E-mail de contact", "Adresse courriel du contact"),
        "nl": ("E-mail van de contactpersoon", "Contact e-mailadres", "E-mailadres (contactpersoon)"),
    },
    "contact_phone": {
        "en": ("Telephone number", "Phone (contact person)", "Contact phone no."),
        "fr": ("Numéro de téléphone", "Téléphone (personne de contact)", "Tél. de contact"),
        "nl": ("Telefoonnummer", "Telefoon van de contactpersoon", "Tel. contactpersoon"),
    },
    "manufacturer_name": {
        "en": ("Legal manufacturer", "Manufacturer (legal entity)", "Name of the legal manufacturer"),
        "fr": ("Fabricant légal", "Nom du fabricant", "Fabricant (dénomination)"),
        "nl": ("Wettelijke fabrikant", "Naam van de fabrikant", "Fabrikant (bedrijfsnaam)"),
    },
    "manufacturer_address": {
        "en": ("Manufacturer's address", "Address of the manufacturer", "Manufacturer - full postal address"),
        "fr": ("Adresse du fabricant", "Adresse postale du fabricant", "Fabricant - adresse complète"),
        "nl": ("Adres van de fabrikant", "Postadres fabrikant", "Fabrikant - volledig adres"),
    },
    "manufacturer_srn": {
        "en": ("Manufacturer SRN", "SRN number of the manufacturer", "EUDAMED single registration no."),
        "fr": ("SRN fabricant", "Numéro SRN du fabricant", "N° SRN (EUDAMED)"),
        "nl": ("SRN fabrikant", "SRN-nummer van de fabrikant", "Registratienummer EUDAMED (SRN)"),
    },
    "device_name": {
        "en": ("Name of the product", "Device name (commercial)", "Trade name of the medical device"),
        "fr": ("Nom du dispositif", "Dénomination commerciale", "Nom commercial du produit"),
        "nl": ("Naam van het hulpmiddel", "Handelsnaam van het product", "Commerciële benaming"),
    },
    "device_model": {
        "en": ("Model", "Model number / name", "Device model"),
        "fr": ("Modèle", "Modèle du dispositif", "Nom ou numéro du modèle"),
        "nl": ("Model", "Model van het hulpmiddel", "Modelnummer of -naam"),
    },
    "device_reference": {
        "en": ("Catalogue number", "REF (catalogue)", "Product reference number"),
        "fr": ("Numéro de catalogue", "Référence catalogue", "REF du produit"),
        "nl": ("Catalogusnummer", "Referentie (catalogus)", "Artikelreferentie"),
    },
    "udi_di": {
        "en": ("UDI-DI", "UDI device identifier", "Unique Device Identification - DI"),
        "fr": ("IUD-ID", "Identifiant IUD-ID du dispositif", "UDI-DI du produit"),
        "nl": ("UDI-DI", "UDI-DI van het hulpmiddel", "Unieke identificatiecode (UDI-DI)"),
    },
    "risk_class": {
        "en": ("Risk class", "Classification of the device", "Class (MDR/IVDR)"),
        "fr": ("Classe de risque", "Classe du dispositif", "Classification (RDM/RDIV)"),
        "nl": ("Risicoklasse", "Klasse van het hulpmiddel", "Classificatie (MDR/IVDR)"),
    },
    "regulation": {
        "en": ("Applicable regulation", "Regulation", "Applicable legislation"),
        "fr": ("Règlement applicable", "Règlement", "Législation applicable"),
        "nl": ("Toepasselijke verordening", "Verordening", "Toepasselijke regelgeving"),
    },
    "intended_purpose": {
        "en": ("Intended purpose", "What the device is used for", "Intended use / indication"),
        "fr": ("Destination du dispositif", "Usage prévu", "Indication / usage prévu"),
        "nl": ("Beoogd doel", "Waarvoor wordt het hulpmiddel gebruikt", "Indicatie / beoogd gebruik"),
    },
    "quantity": {
        "en": ("Number of devices", "Quantity requested", "Units requested"),
        "fr": ("Nombre de dispositifs", "Quantité demandée", "Unités demandées"),
        "nl": ("Aantal hulpmiddelen", "Gevraagd aantal", "Aantal gevraagde stuks"),
    },
    "regulatory_status": {
        "en": ("Regulatory status", "CE marking status and other approvals", "Status of the device (CE, FDA, ...)"),
        "fr": ("Statut réglementaire", "Statut du marquage CE et autres autorisations", "Statut du dispositif (CE, FDA, ...)"),
        "nl": ("Regelgevende status", "Status CE-markering en andere goedkeuringen", "Status van het hulpmiddel (CE, FDA, ...)"),
    },
    "period": {
        "en": ("Requested period", "Period of use", "Duration requested"),
        "fr": ("Période demandée", "Période d'utilisation", "Durée sollicitée"),
        "nl": ("Gevraagde periode", "Gebruiksperiode", "Gevraagde duur"),
    },
    "justification": {
        "en": ("Justification", "Why is this device needed?", "Medical justification"),
        "fr": ("Justification", "Pourquoi ce dispositif est-il nécessaire ?", "Justification médicale"),
        "nl": ("Motivering", "Waarom is dit hulpmiddel nodig?", "Medische rechtvaardiging"),
    },
    "hospital_name": {
        "en": ("Hospital", "Healthcare institution", "Name of the hospital"),
        "fr": ("Hôpital", "Établissement de soins", "Nom de l'hôpital"),
        "nl": ("Ziekenhuis", "Zorginstelling", "Naam van het ziekenhuis"),
    },
    "physician_name": {
        "en": ("Treating physician", "Name of the physician", "Physician (name)"),
        "fr": ("Médecin traitant", "Nom du médecin traitant", "Médecin (nom)"),
        "nl": ("Behandelende arts", "Naam van de behandelende arts", "Arts"),
    },
    "physician_email": {
        "en": ("E-mail of the physician", "Physician's e-mail", "Treating physician - e-mail"),
        "fr": ("E-mail du médecin", "Adresse électronique du médecin traitant", "Médecin traitant - courriel"),
        "nl": ("E-mail arts", "E-mailadres van de behandelende arts", "Behandelende arts - e-mail"),
    },
    "patient_reference": {
        "en": ("Patient initials", "Patient code", "Patient reference (no full name)"),
        "fr": ("Initiales du patient", "Référence du patient", "Code du patient (pas de nom)"),
        "nl": ("Initialen van de patiënt", "Patiëntreferentie", "Code van de patiënt (geen naam)"),
    },
    "intended_use_date": {
        "en": ("Planned date of use", "Intended date of use", "Date of the intervention"),
        "fr": ("Date prévue d'utilisation", "Date de l'intervention", "Date d'utilisation envisagée"),
        "nl": ("Voorziene gebruiksdatum", "Datum van de ingreep", "Geplande datum van gebruik"),
    },
    "signature_date": {
        "en": ("Date", "Date of signature", "Signed on"),
        "fr": ("Date", "Date de signature", "Signé le"),
        "nl": ("Datum", "Datum van ondertekening", "Ondertekend op"),
    },
}

OPTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "manufacturer": {"en": ("Legal manufacturer", "Manufacturer of the device"),
                     "fr": ("Fabricant légal", "Le fabricant"),
                     "nl": ("Wettelijke fabrikant", "De fabrikant")},
    "authorised_representative": {
        "en": ("Authorised representative (EU)", "The authorised representative"),
        "fr": ("Mandataire (UE)", "Le mandataire"),
        "nl": ("Gemachtigde (EU)", "De gemachtigde")},
    "mandated_third_party": {
        "en": ("Third party with a mandate", "Mandated third party (proof attached)"),
        "fr": ("Tiers disposant d'un mandat", "Tiers mandaté (preuve jointe)"),
        "nl": ("Derde met een mandaat", "Gemandateerde derde (bewijs in bijlage)")},
    "MDR": {"en": ("Regulation (EU) 2017/745 (MDR)", "EU MDR 2017/745"),
            "fr": ("Règlement (UE) 2017/745", "RDM 2017/745"),
            "nl": ("Verordening (EU) 2017/745", "MDR 2017/745")},
    "IVDR": {"en": ("Regulation (EU) 2017/746 (IVDR)", "EU IVDR 2017/746"),
             "fr": ("Règlement (UE) 2017/746", "RDIV 2017/746"),
             "nl": ("Verordening (EU) 2017/746", "IVDR 2017/746")},
}

TITLES: dict[str, dict[str, tuple[str, ...]]] = {
    "form_part1": {
        "en": ("Part 1 - Applicant and device", "PART 1: APPLICANT"),
        "fr": ("Partie 1 - Demandeur et dispositif", "PARTIE 1 : DEMANDEUR"),
        "nl": ("Deel 1 - Aanvrager en hulpmiddel", "DEEL 1: AANVRAGER"),
    },
    "form_part2": {
        "en": ("Part 2 - Treating physician", "PART 2: PHYSICIAN"),
        "fr": ("Partie 2 - Médecin traitant", "PARTIE 2 : MÉDECIN"),
        "nl": ("Deel 2 - Behandelende arts", "DEEL 2: ARTS"),
    },
    "national_form": {
        "en": ("National derogation - application form", "Request for a national derogation"),
        "fr": ("Dérogation nationale - formulaire de demande", "Demande de dérogation nationale"),
        "nl": ("Nationale afwijking - aanvraagformulier", "Aanvraag voor een nationale afwijking"),
    },
}

SIGNATURE: dict[str, tuple[str, ...]] = {
    "en": ("Signature of the treating physician", "Signed by the physician"),
    "fr": ("Signature du médecin traitant", "Signature"),
    "nl": ("Handtekening van de behandelende arts", "Handtekening"),
}
COMBINED_SCOPE: dict[str, tuple[str, ...]] = {
    "en": ("Number of devices and duration", "Quantity and period requested"),
    "fr": ("Nombre de dispositifs et durée", "Quantité et période demandées"),
    "nl": ("Aantal hulpmiddelen en duur", "Aantal en gevraagde periode"),
}
SCOPE_VALUE: dict[str, str] = {
    "en": "{n} devices for {m} months",
    "fr": "{n} dispositifs pendant {m} mois",
    "nl": "{n} hulpmiddelen gedurende {m} maanden",
}
