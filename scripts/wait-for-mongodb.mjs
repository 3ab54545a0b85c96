// Waits until the server in MONGODB_URI responds to ping, for at most 60 seconds.
import { MongoClient } from 'mongodb'

const deadline = Date.now() + 60_000
for (;;) {
  try {
    const client = await MongoClient.connect(process.env.MONGODB_URI, { serverSelectionTimeoutMS: 1000 })
    await client.db('admin').command({ ping: 1 })
    await client.close()
    break
  } catch (error) {
    if (Date.now() > deadline) {
      console.error(`MongoDB did not respond to ping within 60 s: ${error.message}`)
      process.exit(1)
    }
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
}
