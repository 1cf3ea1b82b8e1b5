package main

import "crypto/tls"

type tlsConn = tls.Conn
