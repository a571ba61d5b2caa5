package main

func serveMain(c *cli, args []string) int       { return 1 }
func getMain(c *cli, args []string) int         { return 1 }
func lsMain(c *cli, args []string) int          { return 1 }
func echoMain(c *cli, args []string) int        { return 1 }
func fingerprintMain(c *cli, args []string) int { return 1 }
func certsMain(c *cli, args []string) int       { return 1 }
