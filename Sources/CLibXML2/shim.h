#ifndef TOWERPLAN_CLIBXML2_SHIM_H
#define TOWERPLAN_CLIBXML2_SHIM_H
#include <libxml/xmlversion.h>
/* Debian builds libxml2 with ICU, whose headers clash with the copy of ICU inside Swift's
   Foundation. We never touch the ICU members of xmlCharEncodingHandler (only pointers to it
   cross into Swift), so hiding them is safe. */
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>

/* xmlFree is a global function-pointer variable, which Swift 6 treats as shared mutable state. */
static inline void tp_xml_free(void *pointer) { xmlFree(pointer); }
#endif
