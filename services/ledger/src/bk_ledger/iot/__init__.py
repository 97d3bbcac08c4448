"""IoT sensors (物联网): fridges, freezers, the sample fridge, humidity, disinfection cabinets, UV lamps."""
